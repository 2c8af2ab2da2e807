"""Every numeric tolerance the graders use, in one place, with the reason for each."""

# --- exact comparisons against the reference on seeded inputs --------------------------------
# float32 einsum/matmul in a different order differs by ~1e-6 relative; 1e-4 leaves room for that
# and for a different but correct reduction order, while any real mistake is off by > 1e-2.
ATOL = 1e-4
RTOL = 1e-4
# Ratios of integer counts on random data against the reference's (precision, recall and chance over 600
# tokens, an AUROC over 500 scores with ties, a probe's accuracy): both sides divide the same integers, so
# they agree to float rounding, and this also tells equal counts from different ones.
COUNTED = 1e-6
# A schedule's value (the λ warm-up, the learning-rate decay) is a few float operations on the step: it
# agrees with the reference's to ~1e-7 relative, so 1e-6 at λ up to 5 and 1e-9 at a learning rate of 1e-3.
SCHEDULE_L1 = 1e-6
SCHEDULE_LR = 1e-9

# --- values computed by hand on tiny inputs ------------------------------------------------------
# Counts and ratios of counts (L0 7/3, precision 2/3, AUROC 0.85, a rate of 0.2, p = 1/2, a token's mean):
# only float32 rounding of a few operations separates a right answer from the hand value, while every
# mistake the tests name (swapped precision and recall, a sum for a mean, ...) is off by > 1e-2.
CLOSED_FORM = 1e-6
# A share of summed activations (the mass share, 0.6), and shrinkage's ratios of norms of x - b_dec, where
# |b_dec| is about 23, so that subtracting it back keeps only ~2e-6 of the inputs' precision.
CLOSED_FORM_SUMS = 1e-5
# Through logs or the square root of a variance: an entropy in bits (1.52), a tie-corrected z-score (1.88).
# This leaves room for float32 logs or an epsilon inside them; the mistakes named (nats, counting firing
# tokens, the variance without the tie correction) are off by > 0.1.
CLOSED_FORM_STATISTIC = 1e-4
P_VALUE = 1e-5            # 1 - Φ(z) at z = 1.88: φ(z) ≈ 0.07 turns CLOSED_FORM_STATISTIC on z into 7e-6 on p
EFFECTIVE_TOKENS = 1e-3   # 2 ** entropy ≈ 2.87 moves 2^H ln 2 ≈ 2 times as much as the entropy H

# --- identities ----------------------------------------------------------------------------------
# A fact exact in real arithmetic, checked on float32 computations done two ways: the components summed to
# the residual stream, the contributions plus the constant to the pre-activation, decode(z') - decode(z)
# to (value - z_i) W_dec[i], 16 random directions spanning all of R^16 (a least-squares solve). Summing in
# another order or solving leaves ~1e-6-1e-5; a missing or extra term shows at the size of the term.
FLOAT_IDENTITY = 1e-4

# --- decoder rows and directions -----------------------------------------------------------------
# A row scaled to a set norm in float32 (1 after normalising or folding, init_norm 2.5) has that norm to
# ~1e-7 relative; 1e-5 leaves room for another correct formula, while a missing step is off by > 1e-2.
ROW_NORM = 1e-5
ROW_NORM_SMALL = 1e-6     # rows at init_norm 0.1: ROW_NORM's relative precision (1e-5) at a tenth of the size
# After training, rows folded at the end have norm 1 to float32 rounding; rows never folded start at norm
# 0.1 (init_norm) and move freely, so this only has to tell the two apart.
FOLDED_NORM = 1e-3
# A resampled decoder row is a batch input minus b_dec, normalised: its best cosine with the normalised
# candidates is 1 up to float32 rounding (in 8 dimensions, so that a missing "- b_dec" shows).
SAME_DIRECTION = 1e-4

# --- naming the mistake --------------------------------------------------------------------------
# A hint names a mistake when the submission's number equals the mistake's, computed here from the same
# inputs, to 1e-5: float32 rounding of the same few operations, close enough that it is that mistake.
MISTAKE = 1e-5

# --- statistics of generated data ---------------------------------------------------------
# Rates are compared in standard errors: at 6 sigma the reference fails with probability ~2e-9 per
# check, so it passes 100 runs out of 100, while a wrong rate (1 - p instead of p) is > 100 sigma off.
SIGMAS = 6.0
STAT_SAMPLES = 200_000  # batch size for statistical tests: standard error of a rate <= 0.0011
# torch.rand draws multiples of 2^-24 in [0, 1): a feature present with probability 1 comes out an exact 0
# about once in 17 million values, so 99.9% of them must be > 0 (`rand > p` instead of `rand < p` gives 0%).
ALWAYS_PRESENT = 0.999
# A presence rate of 0.05 over 40,000 values (20,000 rows, two such features) has a standard error of
# 0.0011: 0.01 is 9 of them, while `rand > p` gives 0.95.
PRESENCE_RATE_TOL = 0.01

# --- training ------------------------------------------------------------------------------
# The student's loop and the reference train the same architecture for the same number of steps
# from the same seeds but not necessarily the same random stream; the mean final loss over 16
# instances varies by < 3% between seeds (measured), so 10% passes any correct loop and fails a
# loop that never zeroes its gradients or ignores the importance (both > 30% worse).
TRAIN_LOSS_RTOL = 0.10
# The judge measures a trained model's loss itself, on this many fresh samples (seeded), and
# never trusts the loss history a submission reports; the history must still agree with the
# measured loss of the trained model (the last 100 logged steps are noisier than the measurement).
EVAL_SAMPLES = 20_000
HISTORY_RTOL = 0.10  # measured: the last 100 logged steps are 0.3-1.6% above the measured loss

# --- toy-model geometry (Elhage et al. 2022), judged on the lowest-loss instance of 8 -------------
PENTAGON_D = 0.40        # 2 dimensions shared by 5 features
PENTAGON_D_TOL = 0.03    # measured spread over 20 seed groups: 0.396-0.404
PENTAGON_GAP = 72.0      # degrees between neighbours
PENTAGON_GAP_TOL = 5.0   # measured: 71.6-72.5
PAIRS_D = 0.50           # two antipodal pairs: 4 features at 1/2, one dropped
PAIRS_D_TOL = 0.03       # measured: 0.496-0.504
DROPPED_D_MAX = 0.10     # a feature the model gave up on
DENSE_D = 1.0            # the 2 most important features, each alone in its dimension
DENSE_D_TOL = 0.10       # measured: 0.959-1.0 (one seed group of 20 converges slowly)
ORTHOGONAL_TOL = 5.0     # degrees from 90
# The same measures on an exactly constructed regular pentagon (float32 cos and sin), not a trained one:
EXACT_PENTAGON_D_TOL = 1e-4    # its dimensionalities are 0.4 up to float32 rounding of norms and squares
EXACT_PENTAGON_GAP_TOL = 1e-3  # its neighbour gaps are 72° up to float32 rounding: 1e-3° is 2e-5 radians

# --- toy SAE --------------------------------------------------------------------------------
SAE_COSINE = 0.9         # a true feature is recovered if some decoder row has cosine above this
SAE_MIN_RECOVERED = 4    # of 5 features, on the lowest-loss SAE instance

# --- the original exercise's model ------------------------------------------------------------
# Trained at p = 0.05 (best of 8, 3000 steps at lr 1e-3) it reaches 5.4-5.6x the real toy model's
# loss over 4 seeds, 5.7-5.8x at the grader's 1500 steps at lr 3e-3 (measured); a factor 2 separates
# them with a wide margin on both sides.
SEED_MODEL_LOSS_RATIO = 2.0

# --- Part 2: SAE training ---------------------------------------------------------------------
SYNTHETIC_COSINE = 0.9      # a known direction counts as recovered above this cosine
SYNTHETIC_RECOVERED = 0.9   # fraction of the 256 known directions; the reference recovers 100% (4 seeds)
# The graded run: 20k samples, 8 epochs at lr 6e-3 (the notebook's SYNTHETIC otherwise). The reference
# recovers 100% on 4 data and initialisation seeds (L0 6.3-6.4, true 4), as it does from 50k samples
# and 10 epochs at lr 3e-3 (L0 6.6-6.8) in 2.8 times as long.
SYNTHETIC_SAMPLES = 20_000
SYNTHETIC_TRAINING = dict(epochs=8, lr=6e-3)
# The real-data grader trains on this many cached SmolLM2 layer-15 activations (3 epochs, batch 512,
# d_sae 2 x d_model, lambda 20) and measures L0 and EV on all of them. Measured over 3 seeds at 5k: L0
# 381-383, EV 0.522-0.526 (untrained: L0 576, EV 0.02); a loop that zeroes the gradients between
# backward and the step fails both bounds. (At 10k tokens: L0 292-299, EV 0.566-0.569, twice the time.)
REAL_TOKENS = 5_000
REAL_EVAL_TOKENS = 5_000
REAL_L0_RTOL = 0.25         # the student's L0 within 25% of the reference's, trained the same way
REAL_EV_DROP = 0.05         # and explained variance at most 0.05 below it

# --- Part 3: scoring explanations ---------------------------------------------------------------
# A latent that fires (at 1-1.2) exactly on 3 of 50 token ids, scored against the binary prediction
# of those 3 ids over 40 windows of 31 tokens: the reference's Pearson is 0.99; an unrelated set of
# 3 ids scores about -0.07 there (its tokens never fire, so a small negative correlation).
PERFECT_PEARSON = 0.9
RANDOM_PEARSON = 0.15

# --- through a language model (the tiny GPT-2 and Llama built from a seed in both processes) ----------
# The same seeded model computed in the submission's process and here: the same float32 operations, so
# the residual stream agrees to ~1e-6 (adding a steering vector rounds at that level too); a hook left
# registered, or a position steered or clamped by mistake, moves it by far more.
SAME_MODEL = 1e-5
# Through the rest of a model's forward pass and a softmax over 50,257 tokens (a loss, the logits, a loss
# change from an ablation) against the reference's, where kernels reorder reductions and a rounding-level
# change in the residual stream (x - x̂ + x̂ for a latent clamped to its own value) grows through the blocks.
THROUGH_MODEL = 1e-4
# A perfect reconstruction (the identity) splices the residual stream back unchanged: CE_sae equals CE_clean
# and the KL divergence is 0, up to float32 rounding.
LOSSLESS = 1e-5
# recovered computed from a submission's own three losses, against what those losses give (1 for a perfect
# SAE, the fraction lost for the inverted formula): a float32 ratio of differences of losses.
RECOVERED_RATIO = 1e-4
# Numbers derived from the three losses, against the reference's (recovered, the increase in nats and in %,
# the KL), absolute up to 1 and relative beyond: differences of ~10-nat losses amplify their rounding.
CE_DERIVED = 1e-3
# KL divergences against the reference's, relative: on the peaked models the graders use, KL(Q || P) is
# 1-4% away from KL(P || Q), so 1e-3 tells the two directions apart and allows float32 log-softmax rounding.
KL_RTOL = 1e-3
KL_ATOL = 1e-6            # steering_effect's KLs at the last position (0.01-1): a floor for a KL near 0
STEERED_KL_ATOL = 1e-7    # steered_kl's and compare_steering's KLs, averaged over positions: a floor for one near 0
# Directions that differ only in length, each scaled to the same norm: the added vectors differ by float32
# rounding of the normalisation, the KLs they cause by ~1e-6 relative.
SAME_STEERING_RTOL = 1e-4
# The probe's reading and the clean model's loss on a steered greedy continuation, against the reference's:
# through the model's forward pass like THROUGH_MODEL, relative to the value, with a floor near 0.
CONTINUATION_RTOL = 1e-4
CONTINUATION_ATOL = 1e-6

# --- probes --------------------------------------------------------------------------------------
# The reference fits a logistic probe by float64 LBFGS to a gradient of 1e-10; another correct optimiser
# stops nearer or farther: w within 0.2% (relative) and b within 2e-3 of the reference's minimiser.
PROBE_FIT = 2e-3
# The objective's gradient at a converged fit is below this; a diagnosis reads a component of the gradient
# below it as zero, and above it as not.
CONVERGED_GRADIENT = 1e-4
# A mistake shows as a gradient equal to what the missing or extra term contributes: within 1% + 1e-5.
GRADIENT_MATCH_RTOL = 1e-2
GRADIENT_MATCH_ATOL = 1e-5
# A probe fit within PROBE_FIT may rank a few rows differently: its validation and test AUROCs within 2e-3
# of the reference's, and the completeness shares (AUROC_k - 1/2) / (AUROC_full - 1/2) made from them too.
PROBE_AUROC = 2e-3
PROBE_RECOVERED = 2e-3
PROBE_ACCURACY = 0.01           # train_probe's test accuracy: 3 of its 300 test rows may fall the other way
SPARSE_PROBE_ACCURACY = 0.011   # sparse_probing's test accuracies: 1 of 100 test rows (0.01), plus rounding
PROBE_W_RTOL = 1e-2             # the chosen λ's w, fit on the submission's own standardisation: within 1%
# Validation AUROCs that agree with the AUROCs on the train rows (or on the test rows) to 1e-3 were
# measured on those rows.
LEAK_AUROC = 1e-3

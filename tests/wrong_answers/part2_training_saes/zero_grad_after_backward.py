# targets: test_training_steps_match_reference test_training_recovers_synthetic_features test_training_on_real_activations_matches_reference
# Clears the gradients between backward and the step, so every step is taken with a zero gradient.
def train_sae(sae, acts, cfg, progress=True):
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    steps_per_epoch = len(acts) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    history = defaultdict(list)
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(acts))
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            x = acts[order[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
            x_hat, z = sae(x)
            loss, mse, l1 = sae_loss(x, x_hat, z, sae.W_dec.norm(dim=-1), l1_coefficient(step, total_steps, cfg.l1_coeff))
            loss.backward()
            nn.utils.clip_grad_norm_(sae.parameters(), cfg.max_grad_norm)
            optimizer.zero_grad()
            optimizer.step()
            history["l0"].append(l0_norm(z))
    fold_decoder_norms(sae)
    return dict(history)

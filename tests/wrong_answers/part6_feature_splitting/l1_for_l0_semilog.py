# targets: test_l1_for_l0
# Takes the logarithm of L0 only: log L0 linear in λ, an exponential law instead of a power law.
def l1_for_l0(runs, target_l0):
    (l1_a, l0_a), (l1_b, l0_b) = runs
    return l1_a + math.log(target_l0 / l0_a) * (l1_b - l1_a) / math.log(l0_b / l0_a)

# targets: test_l1_for_l0
# Interpolates L0 linearly in λ itself, not log L0 in log λ.
def l1_for_l0(runs, target_l0):
    (l1_a, l0_a), (l1_b, l0_b) = runs
    return l1_a + (target_l0 - l0_a) * (l1_b - l1_a) / (l0_b - l0_a)

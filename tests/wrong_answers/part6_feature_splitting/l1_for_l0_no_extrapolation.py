# targets: test_l1_for_l0
# Clamps to the runs: returns the nearer run's λ when the target lies beyond both (no extrapolation).
def l1_for_l0(runs, target_l0):
    (l1_a, l0_a), (l1_b, l0_b) = runs
    if not min(l0_a, l0_b) <= target_l0 <= max(l0_a, l0_b):
        return min(runs, key=lambda run: abs(math.log(run[1] / target_l0)))[0]
    slope = math.log(l0_b / l0_a) / math.log(l1_b / l1_a)
    return l1_a * math.exp(math.log(target_l0 / l0_a) / slope)

# targets: test_l1_for_l0
# Extrapolates from the wrong pair: the first run's λ with the second run's L0.
def l1_for_l0(runs, target_l0):
    (l1_a, l0_a), (l1_b, l0_b) = runs
    slope = math.log(l0_b / l0_a) / math.log(l1_b / l1_a)
    return l1_a * math.exp(math.log(target_l0 / l0_b) / slope)

# targets: test_l1_for_l0
# Flips the slope's sign: a target below a run's L0 gets a smaller λ instead of a larger one.
def l1_for_l0(runs, target_l0):
    (l1_a, l0_a), (l1_b, l0_b) = runs
    slope = math.log(l0_b / l0_a) / math.log(l1_b / l1_a)
    return l1_a * math.exp(-math.log(target_l0 / l0_a) / slope)

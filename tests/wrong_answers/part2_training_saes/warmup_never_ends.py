# targets: test_schedules
def l1_coefficient(step, total_steps, l1_coeff, warmup_frac=0.05):
    return l1_coeff * step / total_steps

# targets: test_l0_norm
def l0_norm(z):
    return (z > 0).float().sum().item()

# targets: test_neighbour_gaps
def neighbour_gaps(W_instance, min_norm=0.5):
    W_kept = W_instance[:, W_instance.norm(dim=0) > min_norm]
    angles = torch.rad2deg(torch.atan2(W_kept[1], W_kept[0])).sort().values
    return torch.diff(angles)

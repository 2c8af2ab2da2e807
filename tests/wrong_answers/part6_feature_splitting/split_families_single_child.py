# targets: test_split_families
# Accepts a single close child as a family.
def split_families(narrow, wide, fires_narrow, fires_wide, cos_threshold, coverage, overlap):
    cosines = F.normalize(narrow.W_dec, dim=-1) @ F.normalize(wide.W_dec, dim=-1).T
    families = []
    for parent in range(fires_narrow.shape[1]):
        order = cosines[parent].argsort(descending=True)
        children = order[cosines[parent, order] > cos_threshold]
        if len(children) < 1:
            continue
        parent_fires = fires_narrow[:, parent]
        union = fires_wide[:, children].any(-1)
        if parent_fires.sum() == 0 or (union & parent_fires).sum() < coverage * parent_fires.sum():
            continue
        sets = fires_wide[:, children].float()
        counts = sets.sum(0)
        ratio = (sets.T @ sets) / torch.minimum(counts[:, None], counts[None, :]).clamp(min=1)
        if (ratio.fill_diagonal_(0) >= overlap).any():
            continue
        families.append((parent, children.tolist()))
    return families

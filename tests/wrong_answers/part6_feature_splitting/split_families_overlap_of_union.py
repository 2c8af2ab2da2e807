# targets: test_split_families
# Measures two children's overlap against their union (IoU).
def split_families(narrow, wide, fires_narrow, fires_wide, cos_threshold, coverage, overlap):
    cosines = F.normalize(narrow.W_dec, dim=-1) @ F.normalize(wide.W_dec, dim=-1).T
    families = []
    for parent in range(fires_narrow.shape[1]):
        order = cosines[parent].argsort(descending=True)
        children = order[cosines[parent, order] > cos_threshold]
        if len(children) < 2:
            continue
        parent_fires = fires_narrow[:, parent]
        union = fires_wide[:, children].any(-1)
        if parent_fires.sum() == 0 or (union & parent_fires).sum() < coverage * parent_fires.sum():
            continue
        sets = fires_wide[:, children].float()
        shared = sets.T @ sets
        counts = sets.sum(0)
        union = counts[:, None] + counts[None, :] - shared
        if ((shared / union.clamp(min=1)).fill_diagonal_(0) >= overlap).any():
            continue
        families.append((parent, children.tolist()))
    return families

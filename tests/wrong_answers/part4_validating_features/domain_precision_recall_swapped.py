# targets: test_domain_consistency
# Reads the latent as the detector and names its measures that way: precision and recall swapped.
def domain_consistency(domains, acts, threshold=0.0):
    fires = acts > threshold
    if not fires.any():
        return {"domain": -1, "precision": 0.0, "recall": 0.0, "chance": 0.0}
    domain = int(torch.bincount(domains[fires]).argmax())
    measures = consistency(domains, acts, {domain: 1.0}, threshold)
    return {"domain": domain, "precision": measures["recall"], "recall": measures["precision"],
            "chance": (domains == domain).float().mean().item()}

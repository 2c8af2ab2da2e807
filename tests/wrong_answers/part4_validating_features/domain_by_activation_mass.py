# targets: test_domain_consistency
# Picks the domain holding most of the latent's activation mass, not most of its firing tokens.
def domain_consistency(domains, acts, threshold=0.0):
    fires = acts > threshold
    if not fires.any():
        return {"domain": -1, "precision": 0.0, "recall": 0.0, "chance": 0.0}
    domain = int(torch.zeros(int(domains.max()) + 1).index_add_(0, domains[fires], acts[fires]).argmax())
    measures = consistency(domains, acts, {domain: 1.0}, threshold)
    return {"domain": domain, "precision": measures["precision"], "recall": measures["recall"],
            "chance": (domains == domain).float().mean().item()}

# targets: test_domain_consistency
# Takes chance to be one over the number of domains, not the domain's share of the tokens.
def domain_consistency(domains, acts, threshold=0.0):
    fires = acts > threshold
    if not fires.any():
        return {"domain": -1, "precision": 0.0, "recall": 0.0, "chance": 0.0}
    domain = int(torch.bincount(domains[fires]).argmax())
    measures = consistency(domains, acts, {domain: 1.0}, threshold)
    return {"domain": domain, "precision": measures["precision"], "recall": measures["recall"],
            "chance": 1 / (int(domains.max()) + 1)}

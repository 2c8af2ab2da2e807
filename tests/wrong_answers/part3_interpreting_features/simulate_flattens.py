# targets: test_lookup_and_simulate
# Looks every token up but returns a flat tensor instead of one shaped like token_ids.
def simulate(explanation, token_ids):
    return torch.tensor([float(explanation.get(t, 0.0)) for t in token_ids.flatten().tolist()])

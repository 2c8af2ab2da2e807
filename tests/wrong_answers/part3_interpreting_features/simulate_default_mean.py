# targets: test_lookup_and_simulate
# Tokens not in the explanation are predicted the explanation's average value instead of 0.
def simulate(explanation, token_ids):
    default = sum(explanation.values()) / len(explanation) if explanation else 0.0
    return torch.tensor([float(explanation.get(t, default)) for t in token_ids.flatten().tolist()]).reshape(token_ids.shape)

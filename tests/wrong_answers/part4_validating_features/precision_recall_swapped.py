# targets: test_consistency
# Precision divides by the firing tokens and recall by the predicted ones: the two are swapped.
def consistency(token_ids, acts, explanation, threshold=0.0):
    fires = acts > threshold
    predicted = torch.isin(token_ids, torch.tensor(list(explanation), dtype=token_ids.dtype))
    both = (fires & predicted).sum().item()
    recall = both / predicted.sum().item() if predicted.any() else 0.0
    precision = both / fires.sum().item() if fires.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}

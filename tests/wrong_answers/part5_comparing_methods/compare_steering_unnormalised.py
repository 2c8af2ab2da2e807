# targets: test_compare_steering
# Scales the raw direction by norm: longer directions get more.
@torch.no_grad()
def compare_steering(model, layer, directions, norm, prompts, unrelated, probe_w, probe_b, n_new):
    start = prompts.shape[1]
    results = {"concept": [], "loss": [], "kl": [], "continuations": []}
    for direction in directions:
        vector = norm * direction
        with patch_residual(model, layer, lambda resid: resid + vector):
            continuation = greedy_continuation(model, prompts, n_new)
        text = torch.cat([prompts, continuation], dim=1)
        read = residual_stream(model, text, layer)[:, start:]
        results["concept"].append(torch.sigmoid(read @ probe_w + probe_b).mean())
        results["loss"].append(next_token_losses(model, text)[:, start - 1:].mean())
        results["kl"].append(torch.tensor(steered_kl(model, layer, vector, unrelated)))
        results["continuations"].append(continuation)
    return {key: torch.stack(values) for key, values in results.items()}

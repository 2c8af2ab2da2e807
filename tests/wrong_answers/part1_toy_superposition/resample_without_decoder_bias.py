# targets: test_resample_dead_latents
@torch.no_grad()
def resample_dead_latents(sae, h, dead):
    _, h_hat = sae(h)
    loss = (h - h_hat).pow(2).sum(-1)
    for inst in range(h.shape[1]):
        idx = dead[inst].nonzero().squeeze(-1)
        if len(idx) == 0:
            continue
        chosen = torch.multinomial(loss[:, inst] ** 2 + 1e-12, len(idx), replacement=True)
        directions = F.normalize(h[chosen, inst], dim=-1)
        scale = sae.W_enc[inst][:, ~dead[inst]].norm(dim=0).mean()
        sae.W_dec[inst, idx] = directions
        sae.W_enc[inst][:, idx] = directions.T * 0.2 * scale
        sae.b_enc[inst, idx] = 0.0
    return int(dead.sum())

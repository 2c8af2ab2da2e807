# targets: test_pair_errors
@torch.no_grad()
def pair_errors(model, instance):
    n_inst, _, n_feat = model.W.shape
    eye = torch.eye(n_feat)
    x = ((eye[:, None, :] + eye[None, :, :]) > 0).float()
    x = einops.repeat(x, "i j feat -> (i j) inst feat", inst=n_inst)
    return (x - model(x)).pow(2).mean(-1)[:, instance].view(n_feat, n_feat)

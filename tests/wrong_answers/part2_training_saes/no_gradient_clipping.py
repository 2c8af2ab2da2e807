# targets: test_training_steps_match_reference
def train_sae(sae, acts, cfg, progress=True):
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    steps_per_epoch = len(acts) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    history = defaultdict(list)
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(acts))
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            x = acts[order[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total_steps, cfg.lr, cfg.lr_decay_frac)
            x_hat, z = sae(x)
            loss, mse, l1 = sae_loss(x, x_hat, z, sae.W_dec.norm(dim=-1), l1_coefficient(step, total_steps, cfg.l1_coeff, cfg.l1_warmup_frac))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    fold_decoder_norms(sae)
    return dict(history)

# targets: test_training_reaches_reference_loss
# Gradients accumulate across steps because they are never zeroed.
def train_toy_model(model, feature_probability, importance, steps=5000, batch_size=1024, lr=1e-3, progress=True):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = torch.empty(steps, feature_probability.shape[0])
    for step in range(steps):
        x = generate_batch(batch_size, feature_probability)
        loss = importance_weighted_loss(model(x), x, importance)
        loss.sum().backward()
        optimizer.step()
        history[step] = loss.detach()
    return history

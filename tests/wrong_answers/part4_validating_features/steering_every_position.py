# targets: test_steering_hook
# Adds the vector at every position, whatever positions were asked for.
@contextmanager
def steering_hook(model, layer, vector, positions=None):
    def hook(module, inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        steered = hidden + vector
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    handle = get_blocks(model)[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()

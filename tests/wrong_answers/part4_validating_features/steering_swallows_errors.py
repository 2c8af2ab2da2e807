# targets: test_steering_hook_removed_after_error
# Removes its hook, but catches every exception raised inside the with block and hides it.
@contextmanager
def steering_hook(model, layer, vector, positions=None):
    def hook(module, inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        steered = hidden.clone()
        if positions is None:
            steered += vector
        else:
            steered[:, positions] += vector
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    handle = get_blocks(model)[layer].register_forward_hook(hook)
    try:
        yield
    except Exception:
        pass
    finally:
        handle.remove()

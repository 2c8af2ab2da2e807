# targets: test_residual_components test_residual_components_on_llama
# Stores each block's output (the running residual stream) as if it were what the block added.
@torch.no_grad()
def residual_components(model, tokens, layer):
    names, outputs, handles = ["embed"], [], []

    def save_input(module, args, kwargs):
        outputs.append(args[0] if args else kwargs["hidden_states"])

    def save_output(module, inputs, output):
        outputs.append(output[0] if isinstance(output, tuple) else output)

    blocks = get_blocks(model)
    handles.append(blocks[0].register_forward_pre_hook(save_input, with_kwargs=True))
    for i in range(layer + 1):
        handles.append(blocks[i].register_forward_hook(save_output))
        names.append(f"block {i}")
    try:
        model(input_ids=tokens, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return names, torch.stack(outputs[: len(names)])

# targets: test_residual_components test_residual_components_on_llama
# Collects the attention and MLP outputs but forgets the embedding, so the parts do not add up.
@torch.no_grad()
def residual_components(model, tokens, layer):
    names, outputs, handles = [], [], []

    def save_output(module, inputs, output):
        outputs.append(output[0] if isinstance(output, tuple) else output)

    blocks = get_blocks(model)
    for i in range(layer + 1):
        for kind, module in zip(("attn", "mlp"), attention_and_mlp(blocks[i])):
            handles.append(module.register_forward_hook(save_output))
            names.append(f"{kind} {i}")
    try:
        model(input_ids=tokens, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return names, torch.stack(outputs)

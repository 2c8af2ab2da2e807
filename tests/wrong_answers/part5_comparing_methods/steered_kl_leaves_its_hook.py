# targets: test_steered_kl
# Registers its own steering hook and never removes it: every later forward pass is steered.
@torch.no_grad()
def steered_kl(model, layer, vector, tokens):
    clean = model(input_ids=tokens, use_cache=False).logits.log_softmax(-1)

    def add(module, args, output):
        return (output[0] + vector, *output[1:]) if isinstance(output, tuple) else output + vector

    models.get_blocks(model)[layer].register_forward_hook(add)
    steered = model(input_ids=tokens, use_cache=False).logits.log_softmax(-1)
    return (clean.exp() * (clean - steered)).sum(-1).mean().item()

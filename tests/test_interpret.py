"""saecourse.interpret (Part 3's exported protocol) keeps the explaining and held-out documents apart;
Part 3 compares SAE latents with MLP neurons that must be what the MLP's output projection reads."""

import torch

from saecourse import interpret
from saecourse.activations import ActivationStore


def test_protocol_explains_from_even_documents_and_scores_on_odd_ones():
    n_ctx, width = 8, 5  # 8 contexts of 10 stored rows, documents 0-7
    store = ActivationStore(
        acts=torch.zeros(80, 4), doc_ids=torch.arange(8).repeat_interleave(10), positions=torch.arange(80) % 10 + 2,
        context_pos=torch.arange(80) % 10 + 2, tokens=torch.arange(80) % 7, metadata={"ctx_len": 12})
    protocol = interpret.Protocol.of(store, width=width, n_top=1)
    assert protocol.rows.shape == (2 * n_ctx, width)
    values = torch.zeros(80)
    values[3] = 5.0  # fires once, in document 0 (explaining half), on token 3
    values[13] = 2.0  # and in document 1 (held out), on token 6
    assert protocol.explain(values) == {3: 1.0}
    ids, real = protocol.held_out(values, torch.Generator().manual_seed(0))
    assert (real == 2.0).sum() == 1 and 6 in ids[real == 2.0].tolist()
    right, wrong = protocol.score(values, {6: 1.0}), protocol.score(values, {4: 1.0})
    assert right["pearson"] > 0.5 > wrong["pearson"] and right["balanced_accuracy"] > wrong["balanced_accuracy"]


def test_mlp_neurons_are_what_the_mlp_output_projection_reads():
    """Part 3 compares SAE latents with MLP neurons read by ``models.mlp_neurons``: mapped through the
    MLP's output projection they must give the MLP's output exactly, in both layouts, and no hook stays."""
    from saecourse import hooks, models

    for model in (models.tiny_gpt2(seed=0, n_layer=2, n_embd=64)[0], models.tiny_llama()):
        mlp = models.attention_and_mlp(models.get_blocks(model)[1])[1]
        seen = {}
        handle = mlp.register_forward_hook(lambda module, inputs, output: seen.setdefault("output", output))
        ids = torch.randint(0, 500, (2, 9), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            model(input_ids=ids)
        handle.remove()
        hidden = models.mlp_neurons(model, ids, 1)
        assert hidden.shape[:2] == (2, 9)
        torch.testing.assert_close(models.mlp_output_projection(models.get_blocks(model)[1])(hidden), seen["output"])
        assert hooks.registered_hooks(model) == {}

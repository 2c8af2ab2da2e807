# targets: test_width_table
# Leaves the band's bounds out.
def width_table(width_saes, acts, model, tokens, layer, skip_first, band):
    table = {}
    for d_sae, sae in width_saes.items():
        row = metrics.evaluate(sae, acts, model, tokens, layer, skip_first)
        table[d_sae] = {"l1_coeff": sae.cfg["metadata"]["train_config"]["l1_coeff"], **row, "in_band": band[0] < row["l0"] < band[1]}
    return table

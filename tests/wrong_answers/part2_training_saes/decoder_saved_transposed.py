# targets: test_save_load_saelens_format
def save_sae(sae, folder, metadata):
    cfg = {"architecture": "standard", "d_in": sae.d_in, "d_sae": sae.d_sae, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "metadata": metadata}
    tensors = {"W_enc": sae.W_enc.T, "b_enc": sae.b_enc, "W_dec": sae.W_dec.T, "b_dec": sae.b_dec}
    return saelens.write_folder(folder, tensors, cfg)

# targets: test_decoder_constraint test_training_recovers_synthetic_features
# Forgets the decoder constraint: the L1 penalty can then be dodged by growing decoder rows.
@torch.no_grad()
def normalize_decoder(sae):
    pass

@torch.no_grad()
def remove_parallel_gradient(sae):
    pass

# targets: test_sae_init
# Decoder rows start at unit norm whatever init_norm says.
_original_init = SAE.__init__
def _init(self, d_in, d_sae, init_norm=0.1):
    _original_init(self, d_in, d_sae, 1.0)
SAE.__init__ = _init

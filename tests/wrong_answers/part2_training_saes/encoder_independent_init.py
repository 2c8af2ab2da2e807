# targets: test_sae_init
# W_enc drawn independently instead of starting as W_dec transposed.
_original_init = SAE.__init__
def _init(self, d_in, d_sae, init_norm=0.1):
    _original_init(self, d_in, d_sae, init_norm)
    self.W_enc = nn.Parameter(torch.randn(d_in, d_sae) / d_in**0.5)
SAE.__init__ = _init

# targets: test_highlight_html
# Tokens are written into the HTML without html.escape: a token "<b>" becomes a tag.
def highlight_html(tokens, acts, center, max_act):
    spans = []
    for i, (token, a) in enumerate(zip(tokens, acts.tolist())):
        cls = "tok center" if i == center else "tok"
        if math.isnan(a):
            spans.append(f'<span class="{cls} na" title="no activation">{token}</span>')
        else:
            alpha = min(max(a / max_act, 0.0), 1.0) if max_act > 0 else 0.0
            spans.append(f'<span class="{cls}" title="{a:.3f}" style="background: rgba(232, 112, 42, {alpha:.3f})">'
                         f"{token}</span>")
    return "".join(spans)

# targets: test_highlight_html
# α = a / max_act is not clipped to [0, 1]: a token above max_act gets α > 1.
def highlight_html(tokens, acts, center, max_act):
    spans = []
    for i, (token, a) in enumerate(zip(tokens, acts.tolist())):
        cls = "tok center" if i == center else "tok"
        if math.isnan(a):
            spans.append(f'<span class="{cls} na" title="no activation">{html.escape(token)}</span>')
        else:
            alpha = a / max_act if max_act > 0 else 0.0
            spans.append(f'<span class="{cls}" title="{a:.3f}" style="background: rgba(232, 112, 42, {alpha:.3f})">'
                         f"{html.escape(token)}</span>")
    return "".join(spans)

# targets: test_highlight_html
# An unknown (NaN) activation is treated like any other: no "na" class, title "nan" and a transparent background.
def highlight_html(tokens, acts, center, max_act):
    spans = []
    for i, (token, a) in enumerate(zip(tokens, acts.tolist())):
        cls = "tok center" if i == center else "tok"
        alpha = 0.0 if math.isnan(a) or max_act <= 0 else min(max(a / max_act, 0.0), 1.0)
        spans.append(f'<span class="{cls}" title="{a:.3f}" style="background: rgba(232, 112, 42, {alpha:.3f})">'
                     f"{html.escape(token)}</span>")
    return "".join(spans)

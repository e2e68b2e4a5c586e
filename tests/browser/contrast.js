// For each CSS selector: the WCAG contrast ratio between the first matching element's text
// colour and the first opaque background behind it (null when nothing matches).
(selectors) => {
  const parse = (css) => {
    const parts = css.match(/rgba?\(([^)]+)\)/)[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour.a > 0.5) return colour;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor || "rgb(255,255,255)");
  };
  return selectors.map((selector) => {
    const el = document.querySelector(selector);
    if (!el) return [selector, null];
    const [hi, lo] = [luminance(parse(getComputedStyle(el).color)), luminance(background(el))]
      .sort((a, b) => b - a);
    return [selector, Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100];
  });
}

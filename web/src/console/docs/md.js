// A very small Markdown subset for the API descriptions of docs/openapi.yaml: paragraphs,
// `code`, **bold**, [links](url) and "- " lists. Returns a tree of plain objects that the
// template renders with elements — never HTML strings (no v-html, no injection).
export function blocks(text) {
  if (!text) return [];
  const out = [];
  const paras = String(text).trim().split(/\n\s*\n/);
  for (const p of paras) {
    const lines = p.split('\n');
    if (lines.every((l) => /^\s*[-*] /.test(l) || /^\s{2,}\S/.test(l))) {
      const items = [];
      for (const l of lines) {
        if (/^\s*[-*] /.test(l)) items.push(l.replace(/^\s*[-*] /, ''));
        else if (items.length) items[items.length - 1] += ' ' + l.trim();
      }
      out.push({ type: 'ul', items: items.map(inline) });
    } else {
      out.push({ type: 'p', parts: inline(lines.join(' ')) });
    }
  }
  return out;
}

export function inline(s) {
  const parts = [];
  const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\[[^\]]+\]\([^)]+\))/g;
  let last = 0;
  let m;
  while ((m = re.exec(s))) {
    if (m.index > last) parts.push({ t: 'text', v: s.slice(last, m.index) });
    const x = m[0];
    if (x.startsWith('`')) parts.push({ t: 'code', v: x.slice(1, -1) });
    else if (x.startsWith('**')) parts.push({ t: 'b', v: x.slice(2, -2) });
    else {
      const mm = /^\[([^\]]+)\]\(([^)]+)\)$/.exec(x);
      parts.push({ t: 'a', v: mm[1], href: mm[2] });
    }
    last = m.index + x.length;
  }
  if (last < s.length) parts.push({ t: 'text', v: s.slice(last) });
  return parts;
}

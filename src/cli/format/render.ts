/**
 * Docker's --format handling for lists and objects: a `table` prefix prints a
 * header row (the template executed over column titles) and aligns columns;
 * `\t` and `\n` typed literally in the flag become tab and newline; `json`
 * alone prints each item as one JSON line.
 */
import { parseTemplate, goJson } from './template.ts';
import { tabwrite } from './tabwriter.ts';

export function isTableFormat(format: string): boolean {
  return format.startsWith('table');
}

function prepare(format: string): { body: string; table: boolean } {
  let body = format;
  const table = isTableFormat(format);
  if (table) body = body.slice('table'.length);
  body = body.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return { body, table };
}

/**
 * Render `items` with `format`. `headers` maps field names to column titles
 * (IMAGE ID, CREATED …) so the header row is the same template over titles.
 */
export function renderList(format: string, items: unknown[], headers: Record<string, string>): string {
  if (format === 'json') return items.map((i) => goJson(i) + '\n').join('');
  const { body, table } = prepare(format);
  const tmpl = parseTemplate(body);
  let text = '';
  if (table) {
    const headerRow = tmpl.execute(headerContext(headers));
    text += headerRow + '\n';
  }
  for (const item of items) text += tmpl.execute(item) + '\n';
  return table ? tabwrite(text) : text;
}

/** For `inspect --format`: one execution per object, each followed by a newline. */
export function renderEach(format: string, items: unknown[]): string {
  if (format === 'json') return items.map((i) => goJson(i) + '\n').join('');
  const { body } = prepare(format);
  const tmpl = parseTemplate(body);
  return items.map((i) => tmpl.execute(i) + '\n').join('');
}

/** The docker CLI's SubHeaderContext.Label: a `{{.Label "com.example.k"}}` column is titled "k". */
function headerLabel(name: string): string {
  return (name.split('.').pop() ?? '').replace(/[-_]/g, ' ');
}

/** An object whose every field is its column title, uppercased when unknown (Docker does the same). */
function headerContext(headers: Record<string, string>): Record<string, string> {
  return new Proxy({ ...headers }, {
    get(target, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop === 'Label' && !(prop in target)) return headerLabel;
      return target[prop] ?? prop.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
    },
    has() {
      return true;
    },
  });
}

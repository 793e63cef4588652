/**
 * Go's text/tabwriter as Docker configures it for tables
 * (minwidth 10, tabwidth 1, padding 3, pad with spaces): tab-terminated
 * cells are aligned per column block; the last cell of a line is not.
 */
export interface TabwriterOptions {
  minWidth: number;
  padding: number;
}

export const DOCKER_TABLE: TabwriterOptions = { minWidth: 10, padding: 3 };

function width(s: string): number {
  return [...s].length;
}

export function tabwrite(text: string, options: TabwriterOptions = DOCKER_TABLE): string {
  const lines = text.split('\n');
  const trailingNewline = text.endsWith('\n');
  if (trailingNewline) lines.pop();
  const cells = lines.map((l) => l.split('\t'));
  const out: string[][] = cells.map((row) => row.slice());
  // Column blocks: consecutive lines where column `col` is tab-terminated (not the line's last cell).
  const format = (start: number, end: number, col: number): void => {
    let i = start;
    while (i < end) {
      if (cells[i]!.length - 1 <= col) {
        i++;
        continue;
      }
      let j = i;
      let w = 0;
      while (j < end && cells[j]!.length - 1 > col) {
        w = Math.max(w, width(cells[j]![col]!));
        j++;
      }
      const cellWidth = Math.max(w + options.padding, options.minWidth);
      for (let k = i; k < j; k++) {
        const c = cells[k]![col]!;
        out[k]![col] = c + ' '.repeat(cellWidth - width(c));
      }
      format(i, j, col + 1);
      i = j;
    }
  };
  format(0, cells.length, 0);
  return out.map((row) => row.join('')).join('\n') + (trailingNewline ? '\n' : '');
}

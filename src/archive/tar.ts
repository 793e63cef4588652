import { BerthError } from '../common/errors.ts';

/**
 * A streaming tar reader and writer (POSIX ustar + PAX + the GNU long-name
 * extensions), written for layers rather than taken from tar-stream because
 * layers carry binary PAX values (SCHILY.xattr.security.capability is raw
 * bytes) that a string-decoding parser corrupts, and because unpack speed is
 * the product: bodies are handed out as the chunks that arrived, not copied.
 */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  /** Path as written in the archive (PAX path and GNU long names applied), not yet cleaned. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Body size; 0 for everything but 'file'. */
  size: number;
  /** Seconds since the epoch, fractional when PAX carries sub-second precision. */
  mtime: number;
  /** Target of a symlink or hardlink. */
  linkname: string;
  devmajor: number;
  devminor: number;
  uname?: string;
  gname?: string;
  /** Extended attributes from SCHILY.xattr.* / LIBARCHIVE.xattr.*, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** The body of a 'file' entry; whatever the consumer leaves unread is skipped. */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

function corrupt(message: string): BerthError {
  return new BerthError('BERTH_ARCHIVE_CORRUPT', message, { status: 400 });
}

/** Pulls exact byte counts out of an async chunk source without copying when a chunk suffices. */
class ChunkReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes consumed so far (for error messages). */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.buf.length === 0) {
      const r = await this.it.next();
      if (r.done) return false;
      const v = r.value;
      this.buf = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    return true;
  }

  /** Exactly n bytes, or null at a clean end of stream; a partial read is truncation. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    if (this.buf.length >= n) {
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      this.offset += n;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (!(await this.fill())) throw corrupt(`tar stream truncated at byte ${this.offset} (wanted ${need} more bytes)`);
      const take = Math.min(need, this.buf.length);
      parts.push(this.buf.subarray(0, take));
      this.buf = this.buf.subarray(take);
      need -= take;
      this.offset += take;
    }
    return Buffer.concat(parts, n);
  }

  /** Up to n bytes as the chunks that arrived. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let need = n;
    while (need > 0) {
      if (!(await this.fill())) throw corrupt(`tar stream truncated at byte ${this.offset} (entry body wants ${need} more bytes)`);
      const take = Math.min(need, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      need -= take;
      this.offset += take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n)) { /* discard */ }
  }

  /** Consume everything left (trailing zero blocks after end-of-archive) so a hash over the source sees every byte. */
  async drain(): Promise<void> {
    while (await this.fill()) {
      this.offset += this.buf.length;
      this.buf = Buffer.alloc(0);
    }
  }
}

function cstring(buf: Buffer, start: number, len: number): string {
  let end = start;
  const stop = start + len;
  while (end < stop && buf[end] !== 0) end++;
  return buf.toString('utf8', start, end);
}

/** Octal (NUL/space padded) or GNU base-256 (high bit set) numeric field. */
function numeric(buf: Buffer, start: number, len: number, field: string, at: number): number {
  if (buf[start]! & 0x80) {
    // base-256: big-endian two's complement; the first byte's high bit is the marker, the next one the sign
    const first = buf[start]!;
    let value = (first & 0x7f) - (first & 0x40 ? 0x80 : 0);
    for (let i = start + 1; i < start + len; i++) value = value * 256 + buf[i]!;
    if (value < 0 && field !== 'mtime') throw corrupt(`tar header at byte ${at}: negative ${field}`);
    return value;
  }
  let value = 0;
  let i = start;
  const stop = start + len;
  while (i < stop && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let digits = 0;
  for (; i < stop; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw corrupt(`tar header at byte ${at}: ${field} is not an octal number`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : value;
}

function checksumOk(block: Buffer): boolean {
  const stored = numeric(block, 148, 8, 'checksum', 0);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** PAX extended header records: "<len> <key>=<value>\n", values kept as raw bytes. */
function parsePax(data: Buffer, at: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw corrupt(`PAX header at byte ${at}: record without length`);
    const len = Number(data.toString('ascii', pos, space));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) throw corrupt(`PAX header at byte ${at}: bad record length`);
    const record = data.subarray(space + 1, pos + len - 1); // without trailing \n
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw corrupt(`PAX header at byte ${at}: record without "="`);
    out.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/**
 * Entries of a tar stream, in order. The consumer must finish with one entry
 * (or ignore its body) before asking for the next. After the end-of-archive
 * marker the rest of the source is read and discarded.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const r = new ChunkReader(source);
  let pax: Map<string, Buffer> | undefined;
  let globalPax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const at = r.offset;
    const block = await r.read(BLOCK);
    if (block === null) break; // no end marker: accept, as GNU tar does with a warning
    if (block.equals(ZERO_BLOCK)) break;
    if (!checksumOk(block)) throw corrupt(`tar header at byte ${at}: checksum mismatch (not a tar stream, or corrupt)`);
    const flag = String.fromCharCode(block[156]!);
    const size = numeric(block, 124, 12, 'size', at);
    const padded = Math.ceil(size / BLOCK) * BLOCK; // of metadata entries

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > 64 * 1024 * 1024) throw corrupt(`tar header at byte ${at}: metadata entry of ${size} bytes is too large`);
      const data = (await r.read(padded)) ?? Buffer.alloc(0);
      if (data.length < padded) throw corrupt(`tar stream truncated in metadata entry at byte ${at}`);
      const body = data.subarray(0, size);
      if (flag === 'x') pax = parsePax(body, at);
      else if (flag === 'g') globalPax = new Map([...globalPax, ...parsePax(body, at)]);
      else if (flag === 'L') longName = cstring(body, 0, body.length);
      else longLink = cstring(body, 0, body.length);
      continue;
    }

    const magic = block.toString('latin1', 257, 263);
    const isUstar = magic === 'ustar\0';
    let name = cstring(block, 0, 100);
    if (isUstar) {
      const prefix = cstring(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let type = TYPES[flag];
    if (type === undefined) {
      throw new BerthError('BERTH_ARCHIVE_UNSUPPORTED_ENTRY', `tar entry "${longName ?? name}" at byte ${at} has unsupported type '${flag}'`, { status: 400 });
    }
    const header: TarHeader = {
      name,
      type,
      mode: numeric(block, 100, 8, 'mode', at) & 0o7777,
      uid: numeric(block, 108, 8, 'uid', at),
      gid: numeric(block, 116, 8, 'gid', at),
      size,
      mtime: numeric(block, 136, 12, 'mtime', at),
      linkname: cstring(block, 157, 100),
      devmajor: numeric(block, 329, 8, 'devmajor', at),
      devminor: numeric(block, 337, 8, 'devminor', at),
      uname: cstring(block, 265, 32) || undefined,
      gname: cstring(block, 297, 32) || undefined,
      xattrs: new Map(),
    };
    if (longName !== undefined) header.name = longName;
    if (longLink !== undefined) header.linkname = longLink;
    const records = pax ? new Map([...globalPax, ...pax]) : globalPax;
    for (const [key, value] of records) applyPax(header, key, value, at);
    pax = longName = longLink = undefined;

    // Old (v7) archives mark directories only by a trailing slash.
    if (header.type === 'file' && flag !== '7' && header.name.endsWith('/')) header.type = 'dir';
    if (header.type !== 'file') header.size = 0;
    const bodySize = header.type === 'file' ? header.size : 0;
    // Links, dirs, devices and fifos are header-only whatever their size field says (as Go's archive/tar, which wrote most layers, reads them).
    const skipAfter = Math.ceil(bodySize / BLOCK) * BLOCK - bodySize;

    let left = bodySize;
    const body = (async function* () {
      for await (const chunk of r.chunks(left)) {
        left -= chunk.length;
        yield chunk;
      }
    })();
    yield { header, body };
    if (left > 0) await r.skip(left);
    if (skipAfter > 0) await r.skip(skipAfter);
  }
  await r.drain();
}

function applyPax(header: TarHeader, key: string, value: Buffer, at: number): void {
  const text = () => value.toString('utf8');
  const num = () => {
    const n = Number(text());
    if (!Number.isFinite(n) || n < 0) throw corrupt(`PAX header at byte ${at}: ${key}=${JSON.stringify(text())} is not a number`);
    return n;
  };
  switch (key) {
    case 'path': header.name = text(); return;
    case 'linkpath': header.linkname = text(); return;
    case 'size': header.size = num(); return;
    case 'uid': header.uid = num(); return;
    case 'gid': header.gid = num(); return;
    case 'mtime': {
      const t = Number(text()); // may be negative (before 1970)
      if (!Number.isFinite(t)) throw corrupt(`PAX header at byte ${at}: mtime=${JSON.stringify(text())} is not a number`);
      header.mtime = t;
      return;
    }
    case 'uname': header.uname = text(); return;
    case 'gname': header.gname = text(); return;
  }
  if (key.startsWith('SCHILY.xattr.')) {
    header.xattrs.set(key.slice('SCHILY.xattr.'.length), value);
  } else if (key.startsWith('LIBARCHIVE.xattr.')) {
    // libarchive: name is URL-encoded, value base64
    header.xattrs.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(text(), 'base64'));
  } else if (key.startsWith('GNU.sparse.')) {
    throw new BerthError('BERTH_ARCHIVE_UNSUPPORTED_ENTRY', `tar entry at byte ${at}: GNU sparse files are not supported in layers`, { status: 400 });
  }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

export interface TarWriteEntry {
  header: Omit<TarHeader, 'xattrs'> & { xattrs?: Map<string, Buffer> };
  /** Body of a 'file' entry: exactly header.size bytes. */
  body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | (() => AsyncIterable<Uint8Array>);
}

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function writeOctal(block: Buffer, value: number, start: number, len: number): void {
  // len-1 digits, zero padded, then NUL
  const s = Math.floor(value).toString(8).padStart(len - 1, '0');
  block.write(s, start, len - 1, 'ascii');
  block[start + len - 1] = 0;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // " " "=" "\n"
  // the length counts its own digits: one more digit may be needed once they are added
  const digits = String(rest).length;
  let len = rest + digits;
  if (String(len).length > digits) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

const TYPEFLAG: Record<TarEntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function encodeHeader(name: string, h: TarWriteEntry['header'], flag: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  let prefix = '';
  let short = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar prefix split at a slash; the caller guarantees a PAX path when this fails
    const cut = name.lastIndexOf('/', 155);
    if (cut > 0 && Buffer.byteLength(name.slice(cut + 1)) <= 100 && Buffer.byteLength(name.slice(0, cut)) <= 155) {
      prefix = name.slice(0, cut);
      short = name.slice(cut + 1);
    } else {
      short = name.slice(0, 100);
    }
  }
  block.write(short, 0, 100, 'utf8');
  writeOctal(block, h.mode & 0o7777, 100, 8);
  writeOctal(block, Math.min(h.uid, MAX_OCTAL_7), 108, 8);
  writeOctal(block, Math.min(h.gid, MAX_OCTAL_7), 116, 8);
  writeOctal(block, Math.min(size, MAX_OCTAL_11), 124, 12);
  writeOctal(block, Math.min(Math.max(0, Math.floor(h.mtime)), MAX_OCTAL_11), 136, 12);
  block.write(flag, 156, 1, 'latin1');
  if (h.linkname && flag !== 'x') block.write(h.linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'latin1');
  if (h.uname) block.write(h.uname, 265, 32, 'utf8');
  if (h.gname) block.write(h.gname, 297, 32, 'utf8');
  writeOctal(block, Math.min(h.devmajor, MAX_OCTAL_7), 329, 8);
  writeOctal(block, Math.min(h.devminor, MAX_OCTAL_7), 337, 8);
  block.write(prefix, 345, 155, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

function fitsUstarName(name: string): boolean {
  if (Buffer.byteLength(name) <= 100) return true;
  const cut = name.lastIndexOf('/', 155);
  return cut > 0 && Buffer.byteLength(name.slice(cut + 1)) <= 100 && Buffer.byteLength(name.slice(0, cut)) <= 155;
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

/** Header blocks (with a PAX header first when ustar cannot hold the entry) for one entry. */
export function encodeEntryHeader(h: TarWriteEntry['header']): Buffer {
  const size = h.type === 'file' ? h.size : 0;
  const records: Buffer[] = [];
  if (!fitsUstarName(h.name)) records.push(paxRecord('path', Buffer.from(h.name)));
  if (Buffer.byteLength(h.linkname) > 100) records.push(paxRecord('linkpath', Buffer.from(h.linkname)));
  if (size > MAX_OCTAL_11) records.push(paxRecord('size', Buffer.from(String(size))));
  if (h.uid > MAX_OCTAL_7) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL_7) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.xattrs) {
    for (const key of [...h.xattrs.keys()].sort()) records.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs.get(key)!));
  }
  const main = encodeHeader(h.name, h, TYPEFLAG[h.type], size);
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  const paxName = `PaxHeaders.0/${h.name.split('/').filter(Boolean).pop() ?? 'root'}`.slice(0, 99);
  const paxHeader = encodeHeader(paxName, { ...h, mode: 0o644, linkname: '', uid: 0, gid: 0, devmajor: 0, devminor: 0, uname: '', gname: '' }, 'x', data.length);
  return Buffer.concat([paxHeader, data, padding(data.length), main]);
}

/** A tar stream of the given entries, ended with the two zero blocks. */
export async function* writeTar(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    const h = entry.header;
    yield encodeEntryHeader(h);
    if (h.type === 'file' && h.size > 0) {
      const body = typeof entry.body === 'function' ? entry.body() : entry.body;
      if (!body) throw new BerthError('BERTH_ARCHIVE_WRITE', `tar entry "${h.name}": file of ${h.size} bytes has no body`);
      let written = 0;
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (written + buf.length > h.size) {
          throw new BerthError('BERTH_ARCHIVE_WRITE', `tar entry "${h.name}": body is larger than the ${h.size} bytes announced (file changed while reading)`);
        }
        written += buf.length;
        yield buf;
      }
      if (written !== h.size) {
        throw new BerthError('BERTH_ARCHIVE_WRITE', `tar entry "${h.name}": body is ${written} bytes, ${h.size} were announced (file changed while reading)`);
      }
      yield padding(h.size);
    }
  }
  yield Buffer.alloc(BLOCK * 2);
}

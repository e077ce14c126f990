/**
 * A small reader for the EDN subset that Jepsen logs print: nil, booleans,
 * numbers, strings, keywords, vectors, lists and maps with keyword or string
 * keys. Internal to lincheck.
 *
 * @module
 */

/** A keyword such as `:timed-out`; `name` excludes the colon. */
export class EdnKeyword {
  /** Creates the keyword `:name`. */
  constructor(readonly name: string) {}
}

/** A value read from EDN. Maps become objects keyed by keyword name or string. */
export type EdnValue =
  | null
  | boolean
  | number
  | string
  | EdnKeyword
  | EdnValue[]
  | { [key: string]: EdnValue };

/** Converts EDN to JSON-like values: keywords become `":name"` strings. */
export function ednToJson(v: EdnValue): unknown {
  if (v instanceof EdnKeyword) return `:${v.name}`;
  if (Array.isArray(v)) return v.map(ednToJson);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ednToJson(x)]));
  }
  return v;
}

const DELIMITERS = new Set([...' \t\r\n,()[]{}"']);

/**
 * Reads one EDN value from `text`; throws `TypeError` (with the column) if the
 * text is not a single well-formed value.
 */
export function readEdn(text: string): EdnValue {
  const reader = new Reader(text);
  const value = reader.value();
  reader.skipSpace();
  if (!reader.done()) reader.fail("unexpected text after the value");
  return value;
}

class Reader {
  #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  done(): boolean {
    return this.#pos >= this.#text.length;
  }

  fail(message: string): never {
    throw new TypeError(`${message} at column ${this.#pos + 1}`);
  }

  skipSpace(): void {
    const t = this.#text;
    while (this.#pos < t.length) {
      const c = t[this.#pos]!;
      if (c === " " || c === "\t" || c === "\r" || c === "\n" || c === ",") this.#pos++;
      else break;
    }
  }

  value(): EdnValue {
    this.skipSpace();
    const t = this.#text;
    const c = t[this.#pos];
    if (c === undefined) this.fail("unexpected end of input");
    if (c === "[" || c === "(") return this.#sequence(c === "[" ? "]" : ")");
    if (c === "{") return this.#map();
    if (c === '"') return this.#string();
    const start = this.#pos;
    while (this.#pos < t.length && !DELIMITERS.has(t[this.#pos]!)) this.#pos++;
    const token = t.slice(start, this.#pos);
    if (token === "") this.fail(`unexpected "${c}"`);
    if (token === "nil") return null;
    if (token === "true") return true;
    if (token === "false") return false;
    if (token.startsWith(":") && token.length > 1) return new EdnKeyword(token.slice(1));
    if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?N?M?$/.test(token)) {
      return Number(token.replace(/[NM]$/, ""));
    }
    this.#pos = start;
    this.fail(`cannot read "${token}"`);
  }

  #sequence(close: string): EdnValue[] {
    this.#pos++;
    const items: EdnValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.done()) this.fail(`missing "${close}"`);
      if (this.#text[this.#pos] === close) {
        this.#pos++;
        return items;
      }
      items.push(this.value());
    }
  }

  #map(): { [key: string]: EdnValue } {
    this.#pos++;
    const map: { [key: string]: EdnValue } = {};
    for (;;) {
      this.skipSpace();
      if (this.done()) this.fail('missing "}"');
      if (this.#text[this.#pos] === "}") {
        this.#pos++;
        return map;
      }
      const key = this.value();
      const name = key instanceof EdnKeyword ? key.name : typeof key === "string" ? key : null;
      if (name === null) this.fail("map keys must be keywords or strings");
      map[name] = this.value();
    }
  }

  #string(): string {
    const t = this.#text;
    let out = "";
    this.#pos++;
    while (this.#pos < t.length) {
      const c = t[this.#pos++]!;
      if (c === '"') return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = t[this.#pos++];
      switch (e) {
        case "n":
          out += "\n";
          break;
        case "t":
          out += "\t";
          break;
        case "r":
          out += "\r";
          break;
        case '"':
        case "\\":
          out += e;
          break;
        default:
          this.fail(`unknown escape "\\${e ?? ""}"`);
      }
    }
    this.fail("unterminated string");
  }
}

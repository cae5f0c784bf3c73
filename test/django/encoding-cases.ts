/**
 * Session data that exercises the wire format (Python's ensure_ascii `json.dumps`, as
 * `django.core.signing` writes it), shared by the compatibility suites.
 */

export interface EncodingCase {
  name: string;
  data: Record<string, unknown>;
  /**
   * Whether Python writes these exact bytes too. False only where JavaScript and Python format a
   * float differently (`1.5e-7` vs `1.5e-07`): the values still round-trip exactly.
   */
  sameBytes: boolean;
  /**
   * Set for the cases about size: whether the payload is stored zlib-compressed (`.` prefix). Escaped
   * non-ASCII text compresses well too, so other cases leave it to Django's rule.
   */
  compressed?: boolean;
}

export const ENCODING_CASES: EncodingCase[] = [
  {
    name: 'accents',
    data: { name: 'Zoë Ångström', city: 'São Paulo', note: 'café crème brûlée, Übergröße, ñandú' },
    sameBytes: true,
  },
  {
    name: 'CJK',
    data: { ja: '東京都渋谷区', zh: '简体中文與繁體中文', ko: '한국어' },
    sameBytes: true,
  },
  {
    name: 'emoji and surrogate pairs, also lone surrogates',
    data: { smile: '😀', family: '👩‍👩‍👧', flag: '🇫🇷', math: '𝔸𝕓', loneHigh: 'a\ud800b', loneLow: '\udfff' },
    sameBytes: true,
  },
  {
    name: 'control characters and JSON escapes',
    data: {
      controls: '\u0000\u0001\u0008\u0009\u000a\u000c\u000d\u001b\u001f\u007f\u0080\u009f',
      escapes: '"quoted" back\\slash /slash',
      lineSeparators: '\u2028\u2029',
    },
    sameBytes: true,
  },
  {
    name: 'nested objects and arrays',
    data: {
      cart: [
        { sku: 'A-1', qty: 2, tags: ['new', 'sale'] },
        { sku: 'B-2', qty: 1, tags: [] },
      ],
      prefs: {
        theme: { dark: true, contrast: null },
        langs: [
          ['en', 1],
          ['fr', 0.5],
        ],
      },
      empty: { obj: {}, arr: [] },
      flags: [true, false, null],
    },
    sameBytes: true,
  },
  {
    name: 'integers at the edges of exact JSON numbers',
    data: { maxSafe: Number.MAX_SAFE_INTEGER, minSafe: Number.MIN_SAFE_INTEGER, zero: 0, big: 1e16, bigger: 1e21 },
    sameBytes: true,
  },
  {
    name: 'floats at the edges of IEEE doubles',
    data: {
      max: Number.MAX_VALUE,
      minSubnormal: Number.MIN_VALUE,
      epsilon: Number.EPSILON,
      tenth: 0.1,
      third: 1 / 3,
      negative: -2.5e-300,
      small: 1.5e-7,
    },
    sameBytes: false,
  },
  {
    name: 'a payload large enough to be compressed',
    data: { text: 'lorem ipsum dolor sit amet '.repeat(200), list: Array.from({ length: 100 }, (_, i) => ({ id: i, state: 'active' })) },
    sameBytes: true,
    compressed: true,
  },
  {
    name: 'a payload too small to be compressed',
    data: { a: 1 },
    sameBytes: true,
    compressed: false,
  },
];

// compress-web.mjs — writes x.br and x.gz next to every compressible file
// of a built web app (node:zlib, highest levels: this runs once per build,
// the bytes are served many times). herald serve sends a sibling when the
// client's Accept-Encoding allows it and the sibling is smaller; files
// below 256 bytes are left alone (the headers would outweigh the gain).
//
//   node scripts/compress-web.mjs web/dist
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const COMPRESSIBLE = /\.(html|js|mjs|css|json|map|webmanifest|svg|txt|md|yaml|yml|xml|ico|wasm|ttf|otf)$/i;
const MIN = 256;

const root = process.argv[2];
if (!root || !fs.existsSync(root)) {
	console.error('usage: node scripts/compress-web.mjs DIR');
	process.exit(2);
}

function* files(dir) {
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) yield* files(p);
		else if (e.isFile()) yield p;
	}
}

let n = 0;
let before = 0;
let after = 0;
for (const f of files(root)) {
	if (!COMPRESSIBLE.test(f)) continue;
	const data = fs.readFileSync(f);
	for (const suffix of ['.br', '.gz']) fs.rmSync(f + suffix, { force: true });
	if (data.length < MIN) continue;
	const br = zlib.brotliCompressSync(data, {
		params: {
			[zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
			[zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
		},
	});
	const gz = zlib.gzipSync(data, { level: 9 });
	if (br.length < data.length) fs.writeFileSync(f + '.br', br);
	if (gz.length < data.length) fs.writeFileSync(f + '.gz', gz);
	n++;
	before += data.length;
	after += br.length;
}
console.log(`compress-web: ${n} files, ${(before / 1024).toFixed(0)} KiB → ${(after / 1024).toFixed(0)} KiB with brotli`);

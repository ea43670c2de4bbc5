/**
 * Writing a zip archive as Keras 3 writes `.keras` files (keras/src/saving/saving_lib.py opens
 * Python's `zipfile.ZipFile(path, "w")`, whose default is ZIP_STORED): each entry stored
 * uncompressed with its CRC-32, then the central directory and its end record (PKWARE's APPNOTE,
 * no zip64: a `.keras` written here stays under 4 GB, which is checked).
 */
import { crc32 } from './zip';

const LOCAL_SIGNATURE = 0x04034b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const EOCD_SIGNATURE = 0x06054b50;
/** Version needed to extract: 2.0 (stored entries). */
const VERSION = 20;
/** General purpose flag bit 11: the entry name is UTF-8. */
const UTF8_NAMES = 1 << 11;
/** 1980-01-01, the earliest MS-DOS date: entries carry no time, so the same model gives the same bytes. */
const DOS_DATE = (1 << 5) | 1;

/** One file of the archive. */
export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

/** The archive's bytes: `entries` stored in the given order. */
export function writeZip(entries: ZipWriteEntry[]): Uint8Array {
  const names = entries.map((e) => new TextEncoder().encode(e.name));
  const localSize = entries.reduce((sum, e, i) => sum + 30 + names[i].length + e.data.length, 0);
  const centralSize = names.reduce((sum, n) => sum + 46 + n.length, 0);
  const total = localSize + centralSize + 22;
  if (total >= 2 ** 32 || entries.length >= 0xffff) {
    throw new Error(
      `writeZip: an archive of ${total} bytes in ${entries.length} entries needs zip64, which is not written`,
    );
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  const central: { offset: number; crc: number }[] = [];
  entries.forEach((entry, i) => {
    const crc = crc32(entry.data);
    central.push({ offset: at, crc });
    // Local file header: signature, version, flags, method 0 (stored), time, date, CRC, sizes, name length.
    view.setUint32(at, LOCAL_SIGNATURE, true);
    view.setUint16(at + 4, VERSION, true);
    view.setUint16(at + 6, UTF8_NAMES, true);
    view.setUint16(at + 12, DOS_DATE, true);
    view.setUint32(at + 14, crc, true);
    view.setUint32(at + 18, entry.data.length, true);
    view.setUint32(at + 22, entry.data.length, true);
    view.setUint16(at + 26, names[i].length, true);
    out.set(names[i], at + 30);
    out.set(entry.data, at + 30 + names[i].length);
    at += 30 + names[i].length + entry.data.length;
  });
  const directory = at;
  entries.forEach((entry, i) => {
    // Central directory header: as the local one, plus the local header's offset.
    view.setUint32(at, CENTRAL_SIGNATURE, true);
    view.setUint16(at + 4, VERSION, true);
    view.setUint16(at + 6, VERSION, true);
    view.setUint16(at + 8, UTF8_NAMES, true);
    view.setUint16(at + 14, DOS_DATE, true);
    view.setUint32(at + 16, central[i].crc, true);
    view.setUint32(at + 20, entry.data.length, true);
    view.setUint32(at + 24, entry.data.length, true);
    view.setUint16(at + 28, names[i].length, true);
    view.setUint32(at + 42, central[i].offset, true);
    out.set(names[i], at + 46);
    at += 46 + names[i].length;
  });
  // End of central directory: entry counts, directory size and offset.
  view.setUint32(at, EOCD_SIGNATURE, true);
  view.setUint16(at + 8, entries.length, true);
  view.setUint16(at + 10, entries.length, true);
  view.setUint32(at + 12, at - directory, true);
  view.setUint32(at + 16, directory, true);
  return out;
}

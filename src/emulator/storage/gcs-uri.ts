/** `gs://bucket/path/to/object` split into bucket and object name (the name may be empty: a bucket or prefix). */
export interface GcsLocation {
  bucket: string;
  name: string;
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

export function parseGcsUri(uri: string): GcsLocation | undefined {
  const match = /^gs:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  if (!match || !BUCKET.test(match[1] ?? '')) return undefined;
  return { bucket: match[1] ?? '', name: match[2] ?? '' };
}

export function gcsUri(location: GcsLocation): string {
  return `gs://${location.bucket}/${location.name}`;
}

/**
 * Progress of long operations (pull, push, load), emitted by services and
 * rendered by the API as Docker's JSON message stream and by the CLI as bars.
 * The status strings are Docker's, so `docker pull` through berthd reads right.
 */
export type ProgressStatus =
  | 'Pulling fs layer'
  | 'Waiting'
  | 'Downloading'
  | 'Verifying Checksum'
  | 'Download complete'
  | 'Extracting'
  | 'Pull complete'
  | 'Already exists'
  | 'Preparing'
  | 'Pushing'
  | 'Pushed'
  | 'Layer already exists'
  | 'Mounted from'
  | 'Loading layer';

export interface ProgressEvent {
  /** Short id (12 hex of the layer digest), or empty for whole-operation lines. */
  id: string;
  status: ProgressStatus | string;
  current?: number;
  total?: number;
}

export type ProgressSink = (event: ProgressEvent) => void;

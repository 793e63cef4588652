/** The berth version every component reports (package.json's, kept in one place). */
export const BERTH_VERSION = '0.1.0';
export const GIT_COMMIT = process.env.BERTH_GIT_COMMIT ?? 'unknown';

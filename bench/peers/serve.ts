/** How every bench server starts: listening on PORT on all interfaces; a failed start-up ends the process (the bench shows its output). */
export function serve(start: () => Promise<{ listen(port: number, host: string): unknown }>): void {
  start()
    .then((app) => app.listen(Number(process.env.PORT), '0.0.0.0'))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

/**
 * What `npm run clearsessions` boots: the example app's module for its environment, as the package's
 * `nest-django-sessions clearsessions example/dist/clearsessions.module.js` command expects a user's
 * app to export it (README "clearsessions").
 */
import { loadConfig } from './app.config';
import { AppModule as ExampleAppModule } from './app.module';

export const AppModule = ExampleAppModule.forRoot(loadConfig());

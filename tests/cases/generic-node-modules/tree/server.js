const express = require("express");
const routes = require("./lib/routes");

const app = express();
routes.install(app);
app.listen(process.env.PORT || 8080);

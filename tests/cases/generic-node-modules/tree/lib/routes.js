const _ = require("lodash");
const leftpad = require("../vendor/leftpad");

exports.install = (app) => {
	app.get("/", (req, res) => res.send(leftpad(_.capitalize("hello"), 10)));
};

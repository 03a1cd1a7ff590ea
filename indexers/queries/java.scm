; Definitions
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.function
(constructor_declaration name: (identifier) @name) @definition.function
(compact_constructor_declaration name: (identifier) @name) @definition.function

; References (the `ref_text` hook joins a method_invocation's receiver and name)
(method_invocation) @reference.call
(object_creation_expression type: [(type_identifier) (scoped_type_identifier)] @reference.call)
(object_creation_expression type: (generic_type [(type_identifier) (scoped_type_identifier)] @reference.call))
(superclass [(type_identifier) (scoped_type_identifier)] @reference.inherit)
(superclass (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(super_interfaces (type_list [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(super_interfaces (type_list (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit)))
(extends_interfaces (type_list [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(extends_interfaces (type_list (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit)))

; Imports
(import_declaration) @import
